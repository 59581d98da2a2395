"""Background work: the queue, the tasks, and recovery of work a dead worker left."""
