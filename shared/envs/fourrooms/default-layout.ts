// The shipped FourRooms map (plearn's own; the reference code has none), kept as layout text rather than code so
// that it goes through the same parser and validation as a user's own file.

export const DEFAULT_LAYOUT_TEXT = `# FourRooms, the shipped map: a 9x9 grid cut by a wall cross at column 4 and
# row 4, doorways at (4,2), (4,6), (2,4), (6,4): 64 room cells + 4 doorways.
#
# Format, one directive a line; "#" opens a comment at a line start or after a space:
#   name NAME
#   variant NAME forward=p right=p left=p back=p teleports=on|off
#       the intended move w.p. forward, turned clockwise (up->right) w.p. right,
#       counter-clockwise w.p. left, reversed w.p. back; the p's sum to 1
#   map ... end      rows taken verbatim: # wall, . free, T teleport cell
#   teleport x,y to x0..x1,y0..y1
#       a move ending on T re-emits uniformly over the free cells of the rectangle
#   task LABEL goal=x,y trap=x,y[;x,y...]
#       unseen evaluation task: reach the goal, never touch a trap
name fourrooms
# moves: up, right, down, left; (x, y) = (column, row) of the map, 0-based, row 0 at the top; "up" is y-1
variant deterministic forward=1 right=0 left=0 back=0 teleports=off
variant windy forward=0.5 right=0.25 left=0.25 back=0 teleports=off
variant teleporting forward=1 right=0 left=0 back=0 teleports=on
map
....#....
.T..#..T.
.........
....#....
##.###.##
....#....
.........
.T..#..T.
....#....
end
# each teleport sends the agent to the 16 cells of the diagonally opposite room
teleport 1,1 to 5..8,5..8
teleport 7,1 to 0..3,5..8
teleport 1,7 to 5..8,0..3
teleport 7,7 to 0..3,0..3
# the trap blocks the doorway on the direct route, so the optimal path detours
task detour-east goal=6,1 trap=4,2
task detour-south goal=1,6 trap=2,4
`;
