"""MuJoCo models of the custom tasks, derived from the model files dm_control ships.

Each function returns ``(xml_string, assets)`` for ``Physics.from_xml_string``. The changes are
made on the parsed XML, so everything else (materials, cameras, dynamics) stays dm_control's:

- cheetah, walker: a longer floor, so that running backwards does not leave the drawn ground
  (the standard floors start just behind the start position). MuJoCo planes are infinite for
  collisions, so this changes only what pixels show.
- reacher: three links instead of two (the TD-MPC2 ``reacher-three-*`` model): links of 0.09
  (the third one's capsule 0.1 long, as in TD-MPC2's model), an unlimited shoulder, and the
  elbow and wrist limited to +-80 degrees; one motor per joint, with the suite's gear.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from dm_control.suite import common


def _tostring(root: ET.Element) -> tuple[str, dict]:
    return ET.tostring(root, encoding="unicode"), common.ASSETS


def _find(root: ET.Element, tag: str, name: str) -> ET.Element:
    found = root.find(f".//{tag}[@name='{name}']")
    if found is None:
        raise ValueError(f"dm_control model {root.get('model')!r} has no {tag} named {name!r}")
    return found


def _with_floor_size(filename: str, floor: str, size: str) -> tuple[str, dict]:
    root = ET.fromstring(common.read_model(filename))
    _find(root, "geom", floor).set("size", size)
    return _tostring(root)


def cheetah() -> tuple[str, dict]:
    """dm_control's cheetah with a floor 400 m long (the suite's: 200 m), from x = -102 m."""
    return _with_floor_size("cheetah.xml", "ground", "200 .8 .5")


def walker() -> tuple[str, dict]:
    """dm_control's walker with a floor 1000 m long (the suite's: 500 m), from x = -252 m."""
    return _with_floor_size("walker.xml", "floor", "500 .8 .2")


LINK = 0.09


def reacher_three_links() -> tuple[str, dict]:
    """dm_control's two-link reacher, its arm replaced by a three-link one."""
    root = ET.fromstring(common.read_model("reacher.xml"))
    root.set("model", "three-link planar reacher")
    worldbody = root.find("worldbody")
    arm = _find(worldbody, "body", "arm")
    index = list(worldbody).index(arm)
    worldbody.remove(arm)

    def link(parent: ET.Element, name: str, pos: str, joint: dict, length: float) -> ET.Element:
        body = ET.SubElement(parent, "body", name=name, pos=pos)
        ET.SubElement(
            body, "geom", name=name, type="capsule", fromto=f"0 0 0 {length} 0 0", size=".01", material="self"
        )
        ET.SubElement(body, "joint", **joint)
        return body

    arm0 = ET.Element("body", name="arm0", pos="0 0 .01")
    ET.SubElement(arm0, "geom", name="arm0", type="capsule", fromto=f"0 0 0 {LINK} 0 0", size=".01", material="self")
    ET.SubElement(arm0, "joint", name="shoulder0")
    arm1 = link(arm0, "arm1", f"{LINK} 0 0", {"name": "shoulder1", "limited": "true", "range": "-80 80"}, LINK)
    hand = link(arm1, "hand", f"{LINK} 0 0", {"name": "wrist", "limited": "true", "range": "-80 80"}, 0.1)
    finger = ET.SubElement(hand, "body", name="finger", pos=f"{LINK} 0 0")
    ET.SubElement(finger, "camera", name="hand", pos="0 0 .2", mode="track")
    ET.SubElement(finger, "geom", name="finger", type="sphere", size=".01", material="effector")
    worldbody.insert(index, arm0)

    actuator = root.find("actuator")
    for motor in list(actuator):
        actuator.remove(motor)
    for joint in ("shoulder0", "shoulder1", "wrist"):
        ET.SubElement(actuator, "motor", name=joint, joint=joint)
    return _tostring(root)
