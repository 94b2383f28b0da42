"""`ml-ci build`: render the Dockerfile, build the serving image, verify it answers the golden
examples, then push it and record its digest."""
