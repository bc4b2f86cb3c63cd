"""Writes the committed test workbooks of this folder (run it after changing the demo catalogue or
the workbook layout):

    .venv/bin/python tests/data/catalogue/make_workbooks.py

- demo-2026.xlsx   the export of the shipped demo catalogue (a good file; an old export must
                   keep importing);
- office-layout.xlsx  a small 考评表 the way a party office draws one: a title, extra columns
                   (序号, 备注) in another order, merged cells for dimension, item and content;
- broken.xlsx      the same small table with one mistake per row (see tests/test_catalogue_excel.py).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from openpyxl import Workbook, load_workbook

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from demo import catalogue as demo_catalogue  # noqa: E402
from workflows.catalogue.excel import export_spec  # noqa: E402

KINDS = {"department": "机关部门", "maritime_office": "下属海事处"}
HEADER = ["序号", "考评维度", "维度编号", "项目编号", "积分项目", "适用范围", "项目类别", "基础分", "指标依据",
          "内容编号", "积分内容", "标准编号", "评分标准", "加扣分", "分值", "次数上限", "荣誉类别", "荣誉级别",
          "需佐证材料", "备注"]
ROWS = [
    [1, "履行党员义务", "D1", "1-1", "理想信念", "共性指标", "扣分项", 10, "中国共产党章程",
     "1-1-1", "坚定理想信念", "1-1-1-1", "无故不参加集中学习的，每次扣1分", "扣分", 1, None, None, None, "否", ""],
    [2, None, None, None, None, None, None, None, None,
     None, None, "1-1-1-2", "学习记录弄虚作假的，每次扣2分", "扣分", 2, None, None, None, "否", "合并单元格"],
    [3, None, None, None, None, None, None, None, None,
     "1-1-2", "对党忠诚", "1-1-2-1", "散布错误言论的，每次扣5分", "扣分", 5, None, None, None, "否", ""],
    [4, "履行岗位职责", "D2", "2-1", "现场执法", "下属海事处", "扣分项", 5, "海事行政执法工作规范",
     "2-1-1", "规范执法", "2-1-1-1", "未使用执法记录仪的，每次扣1分", "扣分", 1, 3, None, None, "否", ""],
    [5, None, None, "2-2", "机关文稿", "机关部门", "扣分项", 5, None,
     "2-2-1", "文稿质量", "2-2-1-1", "文稿被退回重写的，每次扣1分", "扣分", 1, None, None, None, "否", ""],
    [6, "发挥先锋模范作用", "D4", "4-1", "综合表彰", "共性指标", "加分项", 0, None,
     "4-1-1", "综合性表彰", "4-1-1-1", "获国家级表彰的，加20分", "加分", 20, None, "综合表彰", "国家级", "是", ""],
    [7, None, None, None, None, None, None, None, None,
     None, None, "4-1-1-2", "获局级表彰的，加10分", "加分", 10, None, "综合表彰", "局级", "是", ""],
    [8, None, None, None, None, None, None, None, None,
     "4-1-2", "志愿服务", "4-1-2-1", "参加志愿服务的，每次加0.5分", "加分", 0.5, 4, None, None, "否", ""],
]
BASES = [("B1", "中国共产党章程", "党章"), ("B2", "海事行政执法工作规范", "内部规定")]
MERGES = ["B2:B4", "C2:C4", "D2:D4", "E2:E4", "F2:F4", "G2:G4", "H2:H4", "I2:I4", "J2:J3", "K2:K3",
          "B7:B9", "C7:C9", "D7:D9", "E7:E9", "F7:F9", "G7:G9", "H7:H9", "I7:I9", "J7:J8", "K7:K8"]


def office_layout(rows: list[list[object]] = ROWS) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(["测试海事局2027年度党员积分量化管理考评表"])
    ws.append(["年度", 2027, "合格标准", 12, "优秀标准", 30])
    ws.append(HEADER)
    for row in rows:
        ws.append(row)
    # Title and metadata first, so the table starts on row 4; merges are shifted accordingly.
    for rng in MERGES:
        first, last = rng.split(":")
        ws.merge_cells(f"{first[0]}{int(first[1:]) + 2}:{last[0]}{int(last[1:]) + 2}")
    bases = wb.create_sheet("指标依据")
    bases.append(["编号", "名称", "类别"])
    for b in BASES:
        bases.append(list(b))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def broken() -> bytes:
    """office-layout.xlsx with one mistake in each data row (rows 4-11) and in the metadata."""
    wb = load_workbook(io.BytesIO(office_layout()))
    ws = wb["Sheet1"]
    ws["F2"] = 5                       # excellent line below the pass line
    ws["O4"] = "一分"                  # points: not a number
    ws["O5"] = "=1+1"                  # points: a formula
    ws["P7"] = 2.5                     # max occurrences: not a whole number
    ws["F8"] = "市属单位"               # unknown unit kind
    ws["R9"] = "市级"                  # unknown honour level
    ws["L10"] = "4-1-1-1"              # the code of row 9 again
    ws["S11"] = "也许"                 # evidence: neither 是 nor 否
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def main() -> None:
    (HERE / "demo-2026.xlsx").write_bytes(export_spec(demo_catalogue.spec(), KINDS))
    (HERE / "office-layout.xlsx").write_bytes(office_layout())
    (HERE / "broken.xlsx").write_bytes(broken())
    print("wrote", ", ".join(p.name for p in sorted(HERE.glob("*.xlsx"))))


if __name__ == "__main__":
    main()
