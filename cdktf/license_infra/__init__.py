"""Infrastructure app of the license API: configuration, stack and its constructs."""
