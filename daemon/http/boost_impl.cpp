// The one translation unit that compiles Boost.Asio and Boost.Beast's separately compiled parts
// (BOOST_ASIO_SEPARATE_COMPILATION / BOOST_BEAST_SEPARATE_COMPILATION): every other file only
// includes their declarations, which keeps each rebuild of the HTTP layer short.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
#include <utility>
