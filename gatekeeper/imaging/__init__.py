"""Pictures as bytes: decode and refuse, sanitise (strip metadata, blur), and cached renderings of a stored photo."""
