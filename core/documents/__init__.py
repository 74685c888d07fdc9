"""Documents signed in the bot with a simple electronic signature (ПЭП): issue 14."""
