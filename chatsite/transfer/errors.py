"""The one refusal of an import: a file chatsite does not take, with the reason for the user."""


class ImportRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
