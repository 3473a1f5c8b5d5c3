"""Tools the model can call during an answer: built-in ones and HTTP tools an admin defines."""
