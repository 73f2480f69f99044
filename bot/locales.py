"""The locales the product ships complete catalogs for."""

SUPPORTED_LOCALES = ("en", "zh_Hans", "zh_Hant", "ka", "ru")
DEFAULT_LOCALE = "en"
