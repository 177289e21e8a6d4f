# SPDX-License-Identifier: Apache-2.0
# CPack .deb: filled in by the package issue.
