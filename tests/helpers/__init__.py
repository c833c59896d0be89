"""What several test modules share. Test modules import from here (and from tests/servers for
fixtures' servers), never from one another."""
