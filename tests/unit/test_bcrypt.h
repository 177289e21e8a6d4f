// SPDX-License-Identifier: Apache-2.0
// bcrypt hashes for the basic-auth tests, made by libcrypt in each run
// (cost 4, the cheapest): no hash is checked in.
#pragma once

#include <crypt.h>

#include <stdexcept>
#include <string>

namespace synwatch::testing {

inline std::string BcryptHash(const std::string& password, int cost = 4) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn("$2y$", static_cast<unsigned long>(cost), nullptr, 0,
                       setting, sizeof(setting)) == nullptr) {
    throw std::runtime_error("crypt_gensalt_rn");
  }
  crypt_data data{};
  const char* hash = crypt_rn(password.c_str(), setting, &data, sizeof(data));
  if (hash == nullptr) throw std::runtime_error("crypt_rn");
  return hash;
}

}  // namespace synwatch::testing
