"""Django's async ORM API, running natively on async connections."""
