"""RQ jobs: media processing, summaries, recovery, cleanup."""
