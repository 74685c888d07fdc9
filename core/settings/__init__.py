"""The clinic's settings in one place: what IT set in the config file, overlaid by what the
owner changed on the panel's «Настройки» screen (catalogue: which keys, how they read;
store: the overrides and the effective configuration the jobs and the bot read)."""
