"""The indicator catalogue (积分量化指标体系): versions and their editing, the Excel workbook,
comparison and the what-if re-scoring of a closed quarter under another version."""
