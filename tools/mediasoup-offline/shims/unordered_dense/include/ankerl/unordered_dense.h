// Podium's stand-in for ankerl::unordered_dense (mediasoup-sys 0.24.0 pins 5.3.2).
//
// The mediasoup worker uses only three names from that library: map, set and hash,
// plus hashers of its own that declare `is_avalanching` (a hint that std ignores).
// The standard containers give the same semantics; unordered_dense is a faster
// drop-in, and the worker's hot maps are small (per transport, per SSRC), so the
// difference does not show at our scale. Writing this here removes the recipe's
// only source that came from an unrelated package (a PyPI sdist).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace ankerl
{
	namespace unordered_dense
	{
		// std::hash, callable as ankerl::unordered_dense::hash<T>{}(value).
		template<class T, class Enable = void>
		struct hash : std::hash<T>
		{
		};

		template<
		  class Key,
		  class T,
		  class Hash      = hash<Key>,
		  class KeyEqual  = std::equal_to<Key>,
		  class Allocator = std::allocator<std::pair<const Key, T>>>
		using map = std::unordered_map<Key, T, Hash, KeyEqual, Allocator>;

		template<
		  class Key,
		  class Hash      = hash<Key>,
		  class KeyEqual  = std::equal_to<Key>,
		  class Allocator = std::allocator<Key>>
		using set = std::unordered_set<Key, Hash, KeyEqual, Allocator>;
	} // namespace unordered_dense
} // namespace ankerl
