"""Pictures as bytes: decode and refuse, sanitise (strip metadata, blur), and cached renderings of a
stored photo; video clips read, checked by their boxes and written afresh with PyAV."""
