"""The `opentr` command line and the dev server: above the repository layer, the one place that wires repo/, web/
and workers/ together into processes."""
