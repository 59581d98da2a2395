"""Every threshold and limit of face screening, in one place, with the measurement behind it.

Measured with `gatekeeper eval` on /work/shared/data/faces (adult public figures: 5 enrolled
people, 12 reference photos, 7 event photos, 5 awkward inputs) and on synthetic 4032x3024 group
photos composed from the reference faces at 60-400 px face height (bench/bench_screening.py).
Re-run the evaluation on labelled school data before trusting these numbers for children.
"""

# --- Matching (face_recognition 128-d encodings, Euclidean distance) -------------------------
# Chosen with `make eval-schools` (gatekeeper/screening/school_eval.py; the README's "Screening at
# school size" has the table and the command): open-set schools built from labelled adults (LFW),
# families (FIW) and children (LAG young photos), one reference per pupil, 20% protected, whole
# school and 60-pupil events, each threshold swept around its value. What the sets showed:
# - children: a child's own second photo is 0.17-0.68 from the reference (median 0.53), while the
#   nearest *other* child of 350 is 0.39-0.60 (median 0.51): the model barely tells children
#   apart, so only faces well inside the stranger distances may clear;
# - adults: own photo median 0.42, nearest stranger of 1,000 at >= 0.48 (1st percentile);
# - families: siblings sit as close as 0.26; a sibling is often nearer than the pupil's own photo.
# Clear radius by number of candidates (log-interpolated between the three sizes): the chance that
# some stranger falls within a distance of some candidate grows with their number.
# Five adults (../shared/data/faces): every same-person face <= 0.44 clears, strangers >= 0.67.
STRICT_TOLERANCE = 0.45
SMALL_GALLERY = 5
# 60-pupil events of children: 0.40 cleared no stranger of 300 nor any pupil outside the event
# (0.42 did with a margin of 0.05 or less).
STRICT_TOLERANCE_EVENT = 0.40
EVENT_GALLERY = 60
# Whole schools: 0.36 at 1,000 candidates; 0.38 let a stranger child through at 350 with 0.05 margin.
STRICT_TOLERANCE_LARGE = 0.36
LARGE_GALLERY = 1000
# Pupils known to be older (adult-like faces, `older=` in decide_faces) may clear this much
# further out: adults with +0.05 had no leak at any size, +0.07 was the first step to leak.
# Everyone else is matched as a child (the safe default).
OLDER_TOLERANCE_BONUS = 0.05
# Pupils with a sibling at the school clear this much closer: without it (and with 0.03) a
# sibling or relative was cleared as the pupil in the family schools; 0.05 cleared none.
KIN_TOLERANCE_DROP = 0.05
# No face clears as a pupil while any sibling of theirs (consented or not) is within this: a
# consented child of a family school was cleared as their consented brother, 0.29 from his
# reference and 0.51 from her own (a wrong name on a post escapes a later takedown). 0.52 was the
# first value without that clear and cost 1 of 18 family clears; 0.55 leaves room.
SIBLING_TOLERANCE = 0.55
# The confident match must beat every other pupil of the whole school (protected included) by this
# much. 0.03 let strangers through in every kind; 0.08 none; above it, clears fall.
CLEAR_MARGIN = 0.08
# Blocking. A protected pupil blocks when within LOOSE, or within PLAUSIBLE and no more than
# BLOCK_MARGIN behind the nearest pupil (the best match, relative to the others), unless the nearest
# is a consented sibling of theirs (then a person decides). With the old 0.65 absolute band, 90% of
# consented adults and 78% of consented children were blocked; a face that is neither cleared nor
# blocked goes to a person, so a narrow band costs review work, never a leak (a clear needs the
# protected pupil CLEAR_MARGIN behind the match).
# LOOSE 0.38: consented falsely blocked children 3% / families 6% (0.42: 4% / 10%).
LOOSE_TOLERANCE = 0.38
# PLAUSIBLE 0.46 keeps rose_leslie (0.44 from her own reference in kit_with_rose.jpg) blocked when
# protected; 0.50 doubled children's false blocks.
PLAUSIBLE_TOLERANCE = 0.46
# 0: only a protected pupil who is (level with) the best match blocks; +0.02 added 3-6 points of
# false blocks for children and families, and no protected photo was cleared at 0.
BLOCK_MARGIN = 0.0
# One model for enrolment and screening: encodings from "small" and "large" are not comparable.
ENCODING_MODEL = "small"
# Re-samplings per encoding (face_recognition's num_jitters); each one adds a full network pass.
ENCODING_JITTERS = 1

# --- Detection (CenterFace ONNX on onnxruntime) ----------------------------------------------
# Heatmap peak needed to keep a candidate. At DETECTION_LONG_SIDE, 144 synthetic faces of 56-64
# px on 4032x3024 all scored >= 0.62 and the shared photos' faces >= 0.75, while false alarms on
# the synthetic backgrounds stayed <= 0.27. A blurred bystander cut by the edge of kit_with_rose.jpg
# (16 px) scores 0.38: recall first, it is kept (and comes out "unknown": too small to encode).
DETECTION_SCORE = 0.35
# Overlapping candidates for one face are merged above this intersection-over-union (CenterFace
# gives several neighbouring heatmap cells per face; 0.3 merged them all on the shared set).
NMS_IOU = 0.3
# The photo is scaled (box filter) so its long side is this many pixels for the first pass.
# Single-thread ORT on 4:3 input: 1600 px 0.31-0.37 s, 1472 px 0.26 s, 1408 px 0.24 s; decode
# and five encodings (75 ms each, dlib) take another 0.55 s of the 1.5 s budget per 12 MP photo.
# 144 synthetic faces of 56-64 px on 4032x3024 all scored >= 0.62 at 1408 and at 1472.
DETECTION_LONG_SIDE = 1472
# Network input sides must be multiples of the model's stride.
DETECTION_STRIDE = 32
# The model's output maps are this many times smaller than its input.
DETECTION_OUTPUT_STRIDE = 4
# Detection recall is promised for faces at least this tall in the original (a 12 MP class photo
# of 30 pupils has faces of 100-200 px; 60 px is a child in the back row).
DETECTION_MIN_FACE_PX = 60
# Smallest face (px in the network input) CenterFace finds reliably: 144 synthetic faces of
# 19.6-23.4 px (56-64 px at 1408 and 1472 of 4032) all scored >= 0.62; at 16 px scores fall to
# 0.39-0.65 and some faces are missed.
DETECTION_SMALL_FACE_PX = 20
# When DETECTION_MIN_FACE_PX would shrink below DETECTION_SMALL_FACE_PX at DETECTION_LONG_SIDE
# (originals longer than 4416 px, e.g. 48 MP), a second pass scans at that face size in tiles of
# this many pixels (multiple of 32; bounds memory), overlapping by more than such a face.
DETECTION_TILE = 1600
DETECTION_TILE_OVERLAP = 96

# --- Encoding ----------------------------------------------------------------------------------
# Faces smaller than this (box height, original pixels) get no encoding and come out "unknown".
# Synthetic faces downscaled from the reference photos themselves (11 per size): at 24 px the
# distance to the very photo they came from reaches 0.56 (median 0.49), at 32 px 0.51, at 40 px
# 0.42, at 48 px 0.32: below 40 px the encoding is mostly interpolation.
MIN_ENCODE_FACE_PX = 40
# Sharpness = variance of the 4-neighbour Laplacian of the face resized to SHARPNESS_SIDE px,
# grey 0-255. Shared faces 93-805; synthetic 40 px faces >= 19; the reference faces after a
# Gaussian blur of radius 2: 10-133, radius 4: 3-45. 15 refuses heavy blur, keeps small faces.
MIN_ENCODE_SHARPNESS = 15.0
SHARPNESS_SIDE = 128
# Faces taller than this are downscaled (anti-aliased) before encoding: dlib samples its 150 px
# chip without low-pass filtering, and the pose model needs no more.
ENCODE_MAX_FACE_PX = 300

# --- Reference (enrolment) photos ---------------------------------------------------------------
# A reference face must be larger and sharper than a screened one: it is compared with every
# photo of the year. The shared reference faces are 151-566 px tall, sharpness 93-731.
MIN_REFERENCE_FACE_PX = 80
MIN_REFERENCE_SHARPNESS = 30.0