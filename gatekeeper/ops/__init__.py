"""Running the product: make run, make run-scale, their supervisor, database set-up and the demo
school."""
