-- Undo 0020: the list of exports goes (their archives stay in storage until `opentr cleanup` finds them stray).
DROP TABLE data_exports;
