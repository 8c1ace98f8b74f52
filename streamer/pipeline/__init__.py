"""Links between stages, the per-frame stylizer, stage statistics and the file job."""
