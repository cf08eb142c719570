"""republisher: poll feeds, route items into topic feeds with TOML rules, publish Atom."""

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/republisher/republisher"
USER_AGENT = f"republisher/{__version__} (+{PROJECT_URL})"
