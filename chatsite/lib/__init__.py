"""Small pieces the apps share, one module per topic."""
