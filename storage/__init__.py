"""Files on disk under the storage directory: the layout both web/ (uploads, downloads, deletes) and workers/
(processing, cleanup) rely on, written once."""
