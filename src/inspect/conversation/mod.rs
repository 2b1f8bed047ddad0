//! TCP conversations in a capture: which frames belong to stream N, the
//! bytes each side sent (follow), the exchange as a ladder, and statistics.
