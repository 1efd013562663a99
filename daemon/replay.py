"""`[sim] replay`: play a prices file through the running daemon, `speed` trading days a minute."""
