"""One blueprint module per panel screen."""
