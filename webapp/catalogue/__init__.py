"""The indicator catalogue area (积分量化指标体系)."""
