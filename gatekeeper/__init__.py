"""Gatekeeper, the photo-consent gate for schools: app.py builds the web app; each folder is one
part of the product (README, "How it is built")."""
