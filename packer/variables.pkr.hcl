# SPDX-License-Identifier: Apache-2.0
# Inputs of the synwatch golden image. scripts/image/bake.sh sets them for
# the offline build; see packer/README.md for a run against Debian's cloud
# image.

variable "base_image_url" {
  type        = string
  description = "Debian 12 qcow2 to start from: the official cloud image, or file:// of the base that scripts/image/build-base.sh builds."
  default     = "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2"
}

variable "base_image_checksum" {
  type        = string
  description = "Checksum of base_image_url as Packer takes it: \"sha256:<hex>\", \"file:<url of a SUMS file>\", or \"none\"."
  default     = "file:https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS"
}

variable "output_directory" {
  type        = string
  description = "Directory Packer writes the image to; it must not exist yet."
  default     = "build/image/packer"
}

variable "output_name" {
  type        = string
  description = "File name of the image, without the .qcow2 suffix."
  default     = "synwatch"
}

variable "disk_size" {
  type        = string
  description = "Virtual disk size of the image (qemu-img syntax, e.g. 4G). The root file system only grows into it where the base image resizes itself (cloud-init growpart on the official image)."
  default     = "4G"
}

variable "accelerator" {
  type        = string
  description = "qemu accelerator: kvm where /dev/kvm works, tcg otherwise (slower, works anywhere). scripts/image/bake.sh picks it (PACKER_ACCEL forces one)."
  default     = "kvm"

  validation {
    condition     = contains(["kvm", "tcg", "hvf", "whpx", "xen", "none"], var.accelerator)
    error_message = "The accelerator must be one of kvm, tcg, hvf, whpx, xen or none."
  }
}

variable "cpus" {
  type        = number
  description = "vCPUs of the build VM."
  default     = 2
}

variable "memory" {
  type        = number
  description = "Memory of the build VM, MiB."
  default     = 1024
}

variable "deb_path" {
  type        = string
  description = "The synwatch .deb to install (scripts/package.sh prints its path)."
}

variable "deps_dir" {
  type        = string
  description = "Optional flat apt repository (a directory with .debs and a Packages file) holding the package's dependencies, for builds where the VM has no network. Empty: the VM installs them from its own apt sources."
  default     = ""
}

variable "offline" {
  type        = bool
  description = "Run the build VM with qemu's restricted user network: it reaches nothing but the forwarded ssh port. Needs deps_dir."
  default     = false
}

variable "ssh_private_key_file" {
  type        = string
  description = "Private key Packer logs in with as root. Generate one per build."
}

variable "ssh_public_key" {
  type        = string
  description = "Its public key (one line). The VM receives it as the systemd credential ssh.authorized_keys.root (qemu -smbios type=11), which Debian 12 installs for root at boot; cleanup removes it again."
}

variable "ssh_timeout" {
  type        = string
  description = "How long to wait for the VM's sshd (TCG boots take minutes on busy machines; scripts/image/bake.sh cuts it to 120s under automatically chosen KVM and falls back to TCG)."
  default     = "15m"
}

variable "serial_log" {
  type        = string
  description = "File the VM's serial console (kernel and systemd messages) is written to, to see why a boot failed. Empty: qemu's virtual console, on VNC."
  default     = ""
}
