"""One construct per concern of the license API stack."""
