"""The ``la-pose`` command line (console script ``la-pose = la_pose_core.cli.main:main``)."""
