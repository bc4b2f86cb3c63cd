"""Process design: checking an uploaded file, comparing versions, replaying recorded histories on a
new file, and migrating running instances to a newer version."""
