# ROS 2 installed from PyPI wheels exports a Python include path of the wheel build machine
# (/opt/python/...). Where that path does not exist, point the generated Python targets at this
# machine's Python and NumPy headers. On a regular ROS 2 install this changes nothing.
#
# Include this file after rosidl_generate_interfaces().
find_package(Python3 REQUIRED COMPONENTS Interpreter Development.Module NumPy)
get_directory_property(_la_pose_imported_targets IMPORTED_TARGETS)
foreach(_target IN LISTS _la_pose_imported_targets)
  if(_target MATCHES "__rosidl_generator_py$")
    get_target_property(_include_dirs ${_target} INTERFACE_INCLUDE_DIRECTORIES)
    foreach(_dir IN LISTS _include_dirs)
      if(NOT EXISTS "${_dir}")
        set_target_properties(${_target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES
          "${Python3_INCLUDE_DIRS};${Python3_NumPy_INCLUDE_DIRS}")
        break()
      endif()
    endforeach()
  endif()
endforeach()
