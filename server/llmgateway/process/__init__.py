"""How the gateway's processes are run (app.py, cli.py and workers.py use these): the event loop
(uvloop when available), the garbage collector's settings for a long-lived server, how many worker
processes the cores allow."""
