"""The process designer's area: versions, upload and modeller, checks, replay, deploy, compare, migrate."""
