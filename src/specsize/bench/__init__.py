"""`specsize bench`: measure speculative decoding on this machine and compare with the planner and the peers."""
