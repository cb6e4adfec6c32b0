package replay

// DistinctFilters is how many distinct filters the live set holds, for
// tests that its sharing is released.
func (h *Hub) DistinctFilters() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.filters)
}

// OnFilterTurn has fn called on a filter worker before (true) and after
// (false) each of its tasks. Set it before Run.
func (h *Hub) OnFilterTurn(fn func(start bool)) { h.pool.onTurn = fn }

// FilterWorkers is how many workers evaluate filters.
func (h *Hub) FilterWorkers() int { return h.pool.workers }
