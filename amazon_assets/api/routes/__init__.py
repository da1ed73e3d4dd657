"""HTTP routes: validate, check the caller, call a service through `answers.answer`."""
