#!/usr/bin/env bash
# Build this repository's ROS 2 interface packages into a virtual environment.
#
#   tools/build_interfaces.sh VENV
#
# ROS 2 from PyPI wheels has no ament workspace: the venv root itself serves as the ament
# prefix, so after this `from la_pose_msgs.msg import RelativePose` works in the venv with no
# environment variables. tf2_msgs (not published as a wheel) is built from tools/ros_shims only
# where it is not importable. On a real ROS 2 install use colcon instead (see README).
set -euo pipefail

venv=$(cd "$1" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
build_root="$venv/.interfaces-build"
export PATH="$venv/bin:$PATH"

build_package() {  # build_package SOURCE_DIR NAME
  local source_dir=$1 name=$2
  echo "[build_interfaces] building $name"
  cmake -S "$source_dir" -B "$build_root/$name" -Wno-dev \
    -DCMAKE_PREFIX_PATH="$venv" \
    -DCMAKE_INSTALL_PREFIX="$venv" \
    -DPython3_EXECUTABLE="$venv/bin/python" \
    -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release >"$build_root/$name.log" 2>&1 \
    || { cat "$build_root/$name.log"; exit 1; }
  cmake --build "$build_root/$name" -j "$(nproc)" >>"$build_root/$name.log" 2>&1 \
    || { tail -50 "$build_root/$name.log"; exit 1; }
  cmake --install "$build_root/$name" >>"$build_root/$name.log" 2>&1 \
    || { tail -50 "$build_root/$name.log"; exit 1; }
}

mkdir -p "$build_root"
if "$venv/bin/python" -c "import tf2_msgs.msg" 2>/dev/null; then
  echo "[build_interfaces] tf2_msgs is importable: using it"
else
  build_package "$repo/tools/ros_shims/tf2_msgs" tf2_msgs
fi
build_package "$repo/msg" la_pose_msgs
"$venv/bin/python" -c "from la_pose_msgs.msg import RelativePose, LatentAction; from tf2_msgs.msg import TFMessage"
echo "[build_interfaces] la_pose_msgs and tf2_msgs import"
