"""The demo bureau (东湾海事局): its organisation and accounts, the published demo catalogue and a
filed and an open quarter. Not part of the engine: `flask --app webapp demo load` puts it in an
empty database."""
