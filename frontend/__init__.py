"""The two pages (the stepper and Train & watch): plain ES modules, CSS and
HTML, shipped as package data. Nothing here runs in Python; this file only
makes the folder a package, so the server finds the pages with
`importlib.resources.files("backprop_ninja.frontend")` wherever it is installed."""
