"""Every threshold and limit of face screening, in one place, with the measurement behind it.

Measured with `gatekeeper eval` on /work/shared/data/faces (adult public figures: 5 enrolled
people, 12 reference photos, 7 event photos, 5 awkward inputs) and on synthetic 4032x3024 group
photos composed from the reference faces at 60-400 px face height (bench/bench_screening.py).
Re-run the evaluation on labelled school data before trusting these numbers for children.
"""

# --- Matching (face_recognition 128-d encodings, Euclidean distance) -------------------------
# Chosen with `make eval-schools` (gatekeeper/screening/school_eval.py; the README's "Screening at
# school size" has the table, the sweep and the command): open-set schools built from labelled
# adults (LFW, 1,000 enrolled), families (FIW, 553 enrolled siblings) and children (LAG childhood
# photos, 287 enrolled), one reference per pupil, 20% protected, whole school and 60-pupil events,
# each threshold then moved on its own. What the sets showed:
# - children: a child's own second photo is 0.17-0.68 from the reference (median 0.53), while the
#   nearest *other* child of 350 is 0.39-0.60 (median 0.51): the model barely tells children
#   apart, so only faces well inside the stranger distances may clear;
# - adults: own photo median 0.42, nearest of 1,000 others >= 0.48 for 99% of strangers;
# - families: siblings sit as close as 0.26, often nearer than the pupil's own second photo.
# The clear radius depends on the number of candidates (log-interpolated between the three sizes
# below): the chance that some stranger falls within a distance of some candidate grows with them.
# Five adults (../shared/data/faces): every same-person face <= 0.44 clears, strangers >= 0.67.
STRICT_TOLERANCE = 0.45
SMALL_GALLERY = 5
# 60-pupil events: 0.40 cleared no stranger, relative or pupil outside the event in any kind;
# 0.44 cleared a family face as someone else (through the interpolation, at 553 candidates).
STRICT_TOLERANCE_EVENT = 0.40
EVENT_GALLERY = 60
# Whole schools of 1,000: 0.36. At 0.38 two family faces were cleared as someone else, at 0.40
# five, and four adult strangers.
STRICT_TOLERANCE_LARGE = 0.36
LARGE_GALLERY = 1000
# Pupils known to be older (adult-like faces: `older=` in decide_faces) may clear this much
# further out: adults had no leak at +0.05 or +0.07 and four at +0.09. Everyone else is matched
# as a child, the safe default.
OLDER_TOLERANCE_BONUS = 0.05
# Who is older: a pupil who is this many years old or more on the day of the decision, by the
# register's date of birth (screening.service.RegisterNow.older; a pupil with no date of birth is
# a child). Sixteen is the end of compulsory schooling: sixth-formers, whose faces are near an
# adult's. Adult faces are told apart far better than children's (MobileFaceNet, same-person pairs
# accepted at a false-accept rate of 1e-3: adults 98%, children 27%), which is why one radius set
# by children left two adult faces in three at a whole school to a person. A judgement, not a
# measurement: the labelled sets mark no one aged 16-18.
OLDER_PUPIL_AGE = 16
# Pupils with a sibling at the school clear this much closer: at 0.02 four family faces were
# cleared as a sibling or a relative; at 0.05 none of those.
KIN_TOLERANCE_DROP = 0.05
# No face clears as a pupil while any sibling of theirs (consented or not) is within this: the
# distance face_recognition itself calls the same person. A consented child was cleared as her
# consented brother (0.29 from his reference, 0.51 from hers: a wrong name on a post escapes a
# later takedown); 0.52 stopped that. At 0.55 an unenrolled parent 0.26 from her child's reference
# was still cleared as the child; 0.60 happens to stop that one too (the child has a sibling within
# 0.60), for 8% -> 8% family clears whole school and 15% -> 12% at events. Nothing that uses
# distances alone separates a parent from a child that close: see the README.
SIBLING_TOLERANCE = 0.60
# The confident match must beat every other pupil of the whole school (protected included) by this
# much: 0.05 let an adult stranger through at 1,000 pupils; above 0.08 clears fall.
CLEAR_MARGIN = 0.08
# Blocking. A protected pupil blocks when within LOOSE, or within PLAUSIBLE and no more than
# BLOCK_MARGIN behind the nearest pupil (the best match, relative to the others), unless the nearest
# is a consented sibling of theirs (then a person decides). With the old absolute 0.65, 90% of
# consented adults and 78% of consented children were blocked. A face neither cleared nor blocked
# goes to a person, so a narrow band costs review work, never a leak: a clear needs every protected
# pupil CLEAR_MARGIN behind the match.
# LOOSE 0.38: consented falsely blocked: families 4%, children 4-5% (0.46: 10% and 12-16%).
LOOSE_TOLERANCE = 0.38
# Lookalikes: two pupils whose reference faces lie within the blocking distance of each other
# (LOOSE_TOLERANCE, or `loose` of the distance in use) are listed for the admin and the DSL at
# enrolment, and a face is never cleared as one of them while the other is within the plausible
# distance of it: neither the model nor the margin can be trusted to tell them apart.
# PLAUSIBLE 0.46 keeps rose_leslie (0.44 from her own reference in kit_with_rose.jpg) blocked when
# she is protected; 0.51 adds a point of false blocks for families and children.
PLAUSIBLE_TOLERANCE = 0.46
# 0: only a protected pupil who is (level with) the best match blocks; 0.02 added 2-3 points of
# false blocks for children and families; every protected pupil's photo was stopped at 0.
BLOCK_MARGIN = 0.0
# References age: children's faces change, so a reference counts for less when clearing once it is
# more than REFERENCE_FRESH_YEARS old (the school re-enrols a pupil whose newest reference is that
# old: REENROL_AFTER_DAYS): its distance to a face grows by REFERENCE_AGE_PENALTY_PER_YEAR for
# each further year. Blocking always uses the plain distance, so an old reference of a protected
# pupil blocks as before. Not measured: the labelled sets carry no dates. It can only turn a clear
# into "unknown" (a person looks), never the other way: a two-year-old reference clears only
# within the clear radius less 0.03, a three-year-old one within it less 0.06.
REFERENCE_FRESH_YEARS = 1.0
REFERENCE_AGE_PENALTY_PER_YEAR = 0.03
REENROL_AFTER_DAYS = 365
# At most this many reference photos per pupil: enrolling another retires the oldest.
MAX_REFERENCES_PER_PUPIL = 5
# --- The second embedding (MobileFaceNet, 192-d, unit length) and the fused distance --------
# Chosen with `make eval-schools EVAL_ARGS="--pairs"` and the sweeps of `--embedding` (README
# "Screening at school size"). Same-person pairs accepted at a false-accept rate of 1e-3 (1e-4):
# children (LAG) dlib 18% (12%), MobileFaceNet 27% (15%), fused 27% (15%); families (FIW,
# siblings and parents among the impostors) dlib 47% (21%), MobileFaceNet 62% (36%), fused 61%
# (33%); adults (LFW) 93% (73%), 98% (95%), 99% (96%). With each distance's thresholds chosen for
# no leak over seeds 0-2 (children and families), dlib cleared 9-10% / 8-12% of consented children
# (whole school / event) and 1-5% / 0-12% of families, with 10% falsely blocked at family events;
# MobileFaceNet 10-11% / 12-15% and 5-7% / 3-14% (seeds 0-4), at most 4% falsely blocked; the
# fused distance 10-11% / 13-18% and 4-6% / 4-9%. So MobileFaceNet alone: the fusion adds nothing
# over it (and loses for families).
# A photo is matched by dlib (DEFAULT_MATCHING) whenever a reference or a face of it lacks the
# embedding: enrolled or screened before it existed (rule.Gallery.for_faces).
MATCH_BY = "mobilefacenet"
# Fused distance = FUSED_DLIB_WEIGHT * dlib + (1 - FUSED_DLIB_WEIGHT) * MOBILEFACENET_SCALE *
# MobileFaceNet: the scale is the ratio of the median impostor distances (children 0.56, families
# 0.59), so a fused distance reads like dlib's; at weights 0.2-0.6 pairs accepted move by a point.
MOBILEFACENET_SCALE = 0.56
FUSED_DLIB_WEIGHT = 0.4
# MobileFaceNet's thresholds, in its own distance (Euclidean between unit vectors, 0-2; same-person
# children median 0.94, families 0.76; impostors 1.31 and 1.40). Children and families, seeds 0-4:
MOBILEFACENET_MATCHING = dict(
    # Five adults of ../shared/data/faces: dlib's 0.45 sits at the impostor rate of 0.84 here.
    strict=0.84,
    # Events of 60: 0.70 cleared no stranger, relative or pupil outside the event over seeds 0-4;
    # 0.72 cleared a protected child as another child (0.714 from her, 0.875 from her own photo).
    strict_event=0.68,
    # Whole schools (287-1,000 candidates): at 0.62 no child or family face was cleared wrongly
    # over seeds 0-4, but an adult stranger 0.616 from a pupil was; at 0.64 a stranger child too
    # (0.659: a childhood photo of a lookalike).
    strict_large=0.60,
    # Pupils known to be older (OLDER_PUPIL_AGE; the adults of the evaluation) clear this much
    # further out. Adults, seeds 0-4, with the set's two people filed under two names left out
    # (school_eval.SAME_PERSON_TWO_NAMES): no adult stranger was cleared up to +0.20; the first at
    # +0.24 (0.837 from a pupil at a whole school). At +0.10 consented adults cleared 54-58%
    # (whole school) and 70-81% (event), against 29-31% and 49-55% at +0. Childhood photos (LAG,
    # 753 faces) against the adult school: none cleared at +0.10; the nearest, 0.708, was a baby
    # photo filed among the adults (a pupil of 16 or more is never a baby), real adults >= 0.79.
    older_bonus=0.10,
    # Pupils with a sibling at the school: at 0.05 unenrolled parents 0.55-0.60 from their child
    # were cleared as the child (families, whole school); 0.10 stopped them.
    kin_drop=0.10,
    # The match must beat every other pupil by this much: 0.10 let six children through at the
    # whole school (lookalikes and baby photos; radii 0.74 / 0.67, seeds 0-2); 0.15 three, all
    # stopped by the radii above; 0.18-0.21 clear a point fewer.
    clear_margin=0.15,
    # Blocking: 0.66 / 0.80 block at most 4% of consented pupils falsely (children, seeds 0-4);
    # loose 0.76 raised that to 5%, 0.82 to 11%; plausible 0.86 blocked 6% at children's events.
    loose=0.66,
    plausible=0.80,
    block_margin=0.0,
    # No clear while any sibling is within this (families, seeds 0-4): 0.96 cleared five faces as
    # a sibling, or a parent as the child, and 0.99 one at seed 0; 1.00 and 1.04 none; 1.10 and
    # 1.20 clear fewer families (whole school 5-7% and 4-6%, against 6-8% at 1.04). 1.08 keeps a
    # step of 0.05 from the first leak.
    sibling=1.08,
    # An old reference's penalty, REFERENCE_AGE_PENALTY_PER_YEAR in this distance's scale.
    age_penalty=round(REFERENCE_AGE_PENALTY_PER_YEAR / MOBILEFACENET_SCALE, 3),
)
# The fused distance's best leak-free thresholds over seeds 0-2 (children and families), kept so
# `eval-schools --embedding fused` reproduces the comparison above.
FUSED_MATCHING = dict(
    strict=0.45, strict_event=0.40, strict_large=0.34, older_bonus=0.05, kin_drop=0.06,
    clear_margin=0.06, loose=0.34, plausible=0.44, block_margin=0.0, sibling=0.70,
    age_penalty=REFERENCE_AGE_PENALTY_PER_YEAR,  # the fused distance reads like dlib's
)
# A reference re-embedded from its stored photo (`gatekeeper init`, screening/reembed.py) must give
# back the face enrolled: the same code on the same photo gives the same encoding (0.0), while the
# nearest other adult of five was 0.67 away and strangers of 1,000 0.48 (see above). Further than
# this, the photo no longer gives that face, and the reference keeps its encoding alone.
REEMBED_SAME_FACE_DISTANCE = 0.1

# --- Detection (CenterFace ONNX on onnxruntime) ----------------------------------------------
# Heatmap peak needed to keep a candidate. At DETECTION_LONG_SIDE, 144 synthetic faces of 56-64
# px on 4032x3024 all scored >= 0.62 and the shared photos' faces >= 0.75, while false alarms on
# the synthetic backgrounds stayed <= 0.27. A blurred bystander cut by the edge of kit_with_rose.jpg
# (16 px) scores 0.38: recall first, it is kept (and comes out "unknown": too small to encode).
DETECTION_SCORE = 0.35
# Only heatmap peaks (the maximum of their window of cells) are decoded as face centres: the
# cells on a peak's slope are the same face again. 3x3 is CenterNet's window.
DETECTION_PEAK_WINDOW = 3
# Candidates are compared with the better ones already taken by centre distance (fraction of
# the better box's height and width) and height ratio. Measured on the shared photos and on
# synthetic 12 MP (4 photos) and 48 MP (6 photos of 60-1000 px faces) group photos: the repeats
# of one face (other peaks on the 566 px face of biden/2.jpg, the other pass) lie within 0.11,
# heights 0.83-1.2. Real faces pasted over part of another (8 placements x 20 pairs of the
# shared people) come out 0.16-0.28 apart when both are found (the half-hidden face's box
# drifts onto the face in front), and IoU-based suppression at 0.3 lost 17 of them.
# Surely the same face: dropped.
SAME_FACE_CENTRE = 0.15
SAME_FACE_SIZE = 0.8
# Maybe the same face, maybe a second one behind or in front of it: a doubt, never dropped
# (engine.same_face). Further apart, or more different in size, it is a face of its own.
MAYBE_SAME_FACE_CENTRE = 0.3
MAYBE_SAME_FACE_SIZE = 0.67
# A doubt is screened as a face of its own when its encoding is further than this from its
# face's. Closer, the encoder sees one face in both boxes, and a face behind may be unseen (a
# face pasted over obama's gave two boxes, mostly on one face and the other, with encodings
# 0.09 apart): it is unknown, and a person looks. The other peaks of the 566 px face of
# biden/2.jpg are 0.06-0.14 from it: in a reference photo such doubts are the one face.
DOUBT_SAME_FACE_DISTANCE = STRICT_TOLERANCE
# The photo is scaled (box filter) so its long side is this many pixels for the first pass.
# Single-thread ORT on 4:3 input: 1600 px 0.31-0.37 s, 1472 px 0.26 s, 1408 px 0.24 s; decode
# and five faces' encodings (dlib's network on onnxruntime, 10 ms each, and MobileFaceNet's,
# 9 ms) take the rest of the 0.50 s a 12 MP photo takes (make bench).
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
# this many pixels (multiple of 32; bounds memory), overlapping by this many. Each tile reports
# the faces centred in its core (its inner edges give up half the overlap), and the second pass
# only faces no taller than the overlap: such a face lies wholly in the tile that reports it.
DETECTION_TILE = 1600
DETECTION_TILE_OVERLAP = 192
# With a second pass, the first reports only faces at least this tall in its input, which it
# sizes well; smaller ones are the second pass's. At 20 px the first pass's boxes are rough (a
# 66 px face on 48 MP, 12 px there, came out 20 px tall: a second box beside the second pass's).
# On 48 MP that is faces of 219 px and up; the second pass reports faces up to 576 px.
DETECTION_FIRST_PASS_MIN_FACE_PX = 40

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
