"""What a run leaves behind: the journal of a durable run, resume from it, and the run directory's files."""
