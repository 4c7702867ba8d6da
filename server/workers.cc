#include "server/workers.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <thread>

namespace winnow::server {

struct Workers::Impl {
  explicit Impl(size_t threads) : pool(threads) {}
  boost::asio::thread_pool pool;
};

Workers::Workers(size_t threads)
    : threads_(threads != 0 ? threads
                            : std::max<size_t>(
                                  4, 2 * std::thread::hardware_concurrency())) {
  impl_ = std::make_unique<Impl>(threads_);
}

Workers::~Workers() { Join(); }

void Workers::Post(std::function<void()> task) {
  boost::asio::post(impl_->pool, std::move(task));
}

void Workers::Join() { impl_->pool.join(); }

}  // namespace winnow::server
