"""Images: upload, validation, processing, storage, delivery, analytics."""
