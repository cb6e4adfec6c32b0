package replay

// DistinctFilters is how many distinct filters the live set holds, for
// tests that its sharing is released.
func (h *Hub) DistinctFilters() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.filters)
}
