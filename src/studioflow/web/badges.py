"""The badge colour of each execution status, on every page that lists runs."""

BADGES = {
    "queued": "badge-info",
    "pending": "badge-info",
    "processing": "badge-warning",
    "completed": "badge-success",
    "failed": "badge-danger",
    "cancelled": "",
}
